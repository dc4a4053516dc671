// Allocation profile of the app under a bench: preloaded with
//   npm run bench:throughput -- --only live --node-flags='--import=./bench/heap-sample.mjs'
// it starts V8's sampling heap profiler HEAP_SAMPLE_DELAY_MS (default 20 s) after the app starts, with
// the objects that garbage collection has freed kept in the profile (what a request allocates, not
// what it leaves), and writes it to HEAP_SAMPLE_OUT (default ./heap-sample.heapprofile, for Chrome
// DevTools' Memory tab) when the bench stops the app.
import { writeFileSync } from 'node:fs';
import inspector from 'node:inspector';

const session = new inspector.Session();
session.connect();
session.post('HeapProfiler.enable');
setTimeout(() => {
  session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }, (error) => {
    if (error) console.error('heap-sample: not started', error);
  });
}, Number(process.env.HEAP_SAMPLE_DELAY_MS ?? 20_000)).unref();

const stop = () =>
  session.post('HeapProfiler.stopSampling', (error, result) => {
    if (!error) writeFileSync(process.env.HEAP_SAMPLE_OUT ?? 'heap-sample.heapprofile', JSON.stringify(result.profile));
    process.exit(0);
  });
process.prependListener('SIGTERM', stop);
process.prependListener('SIGUSR2', stop);

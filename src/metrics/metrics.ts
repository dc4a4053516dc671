import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { MetricsExposure } from '../config/app-config';
import { OidcMetrics } from '../oidc';

/** The host's registry: Node process metrics plus OidcModule's own (merged at each scrape). */
export function metricsRegistry(oidc: OidcMetrics): () => Promise<{ contentType: string; body: string }> {
  const host = new Registry();
  // The event-loop delay is sampled every 100 ms, not prom-client's default 10 ms: that timer woke an
  // idle instance 100 times a second (measured: an idle instance's CPU ≈ 13 → 4 ms a second). Stalls
  // shorter than the interval weigh less in nodejs_eventloop_lag_* (README, Operating it).
  collectDefaultMetrics({ register: host, eventLoopMonitoringPrecision: 100 });
  return async () => {
    const merged = Registry.merge([host, oidc.registry]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  };
}

/** `GET /metrics` on a port of its own (METRICS_PORT), so that it need not be reachable from outside. */
@Injectable()
export class MetricsServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private server?: Server;

  constructor(
    private readonly config: ConfigService,
    private readonly oidc: OidcMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const metrics = this.config.getOrThrow<MetricsExposure>('metrics');
    if (metrics.enabled && metrics.port !== undefined) this.server = await serveMetrics(metrics.port, metrics.host, metricsRegistry(this.oidc));
  }

  async onApplicationShutdown(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function serveMetrics(port: number, host: string, scrape: () => Promise<{ contentType: string; body: string }>): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    scrape().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

import { InitialSchema1763780000000 } from './1763780000000-initial-schema';
import { DurableLogoutAndLifecycle1763900000000 } from './1763900000000-durable-logout-and-lifecycle';
import { StateEntries1795342400000 } from './1795342400000-state-entries';
import { SessionUserAgent1795400000000 } from './1795400000000-session-user-agent';
import { SessionAuthentication1795500000000 } from './1795500000000-session-authentication';

/** Every migration, in order; used by the e2e setup, which runs from source. */
export const MIGRATIONS = [InitialSchema1763780000000, DurableLogoutAndLifecycle1763900000000, StateEntries1795342400000, SessionUserAgent1795400000000, SessionAuthentication1795500000000];

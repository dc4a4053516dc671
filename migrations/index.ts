import { InitialSchema1763780000000 } from './1763780000000-initial-schema';
import { DurableLogoutAndLifecycle1763900000000 } from './1763900000000-durable-logout-and-lifecycle';

/** Every migration, in order; used by the e2e setup, which runs from source. */
export const MIGRATIONS = [InitialSchema1763780000000, DurableLogoutAndLifecycle1763900000000];

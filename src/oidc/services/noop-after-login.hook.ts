import { Injectable } from '@nestjs/common';
import type { AfterLoginHook } from '../oidc.tokens';

/** The default after-login hook: nothing to do. */
@Injectable()
export class NoopAfterLoginHook implements AfterLoginHook {
  async afterLogin(): Promise<void> {}
}

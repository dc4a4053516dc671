import { ConfigurableModuleBuilder, type Type } from '@nestjs/common';
import type { OidcModuleOptions } from './oidc.options';
import { type AccountVerifier, type AfterLoginHook, OIDC_ACCOUNT_VERIFIER, OIDC_AFTER_LOGIN } from './oidc.tokens';
import { NoopAfterLoginHook } from './services/noop-after-login.hook';
import { PasswordAccountVerifier } from './services/password-account-verifier.service';

export interface OidcModuleExtras {
  /** Replaces the default password verifier used by `POST /auth/oidc/bind/confirm`. */
  accountVerifier?: Type<AccountVerifier>;
  /** Runs after every successful login (e.g. to provision app data); the default does nothing. */
  afterLogin?: Type<AfterLoginHook>;
}

export const {
  ConfigurableModuleClass: OidcConfigurableModule,
  MODULE_OPTIONS_TOKEN: OIDC_MODULE_OPTIONS,
  OPTIONS_TYPE: OIDC_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: OIDC_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<OidcModuleOptions>()
  .setClassMethodName('forRoot')
  .setExtras<OidcModuleExtras>({}, (definition, extras) => ({
    ...definition,
    providers: [
      ...(definition.providers ?? []),
      { provide: OIDC_ACCOUNT_VERIFIER, useClass: extras.accountVerifier ?? PasswordAccountVerifier },
      { provide: OIDC_AFTER_LOGIN, useClass: extras.afterLogin ?? NoopAfterLoginHook },
    ],
  }))
  .build();

import { Inject, Logger, type MiddlewareConsumer, Module, type NestModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BackchannelLogoutController } from './controllers/backchannel-logout.controller';
import { BindController } from './controllers/bind.controller';
import { FrontchannelLogoutController } from './controllers/frontchannel-logout.controller';
import { LoginController } from './controllers/login.controller';
import { LogoutController } from './controllers/logout.controller';
import { IdentityController } from './controllers/identity.controller';
import { SessionController } from './controllers/session.controller';
import { keyLogTags } from './crypto/secrets';
import { TokenCipher } from './crypto/token-cipher';
import { OIDC_ENTITIES } from './entities';
import { BrowserErrorFilter, OidcExceptionFilter } from './errors/oidc-exception.filter';
import { AccessTokenPipe } from './guards/access-token.decorator';
import { RateLimitGuard, rateLimitOptions } from './guards/rate-limit.guard';
import { SameOriginGuard } from './guards/same-origin.guard';
import { SameOriginNavigationGuard } from './guards/same-origin-navigation.guard';
import { RateLimitStore } from './stores/rate-limit.store';
import { RejectionCounterStore } from './stores/rejection-counter.store';
import { getOptionsToken, getStorageToken } from '@nestjs/throttler';
import { SessionPurgeJob } from './jobs/session-purge.job';
import { TokenOutboxJob } from './jobs/token-outbox.job';
import { ApiRouteMiddleware, FrontchannelRouteMiddleware } from './middleware/module-http.middleware';
import { OidcAudit } from './observability/audit.service';
import { OidcMetrics } from './observability/oidc-metrics.service';
import { SessionGuard } from './guards/session.guard';
import { SessionStrategy } from './guards/session.strategy';
import { StatePurgeJob } from './jobs/state-purge.job';
import { OIDC_MODULE_OPTIONS, OidcConfigurableModule } from './oidc.module-definition';
import type { OidcModuleOptions } from './oidc.options';
import { IdentityRepository } from './repositories/identity.repository';
import { SessionRepository } from './repositories/session.repository';
import { UserRepository } from './repositories/user.repository';
import { BackchannelDirectPath } from './services/backchannel-direct-path.service';
import { BackchannelEndpoint } from './services/backchannel-endpoint.service';
import { BackchannelLogoutService } from './services/backchannel-logout.service';
import { BindService } from './services/bind.service';
import { FrontchannelLogoutService } from './services/frontchannel-logout.service';
import { IdentityService } from './services/identity.service';
import { IdpClientService } from './services/idp-client.service';
import { LoginCompletionService } from './services/login-completion.service';
import { LoginService } from './services/login.service';
import { LogoutTokenVerifier } from './services/logout-token-verifier.service';
import { LogoutService } from './services/logout.service';
import { OidcTokenService } from './services/oidc-token.service';
import { SessionCookieService } from './services/session-cookie.service';
import { SessionService } from './services/session.service';
import { AttemptLimiterStore } from './stores/attempt-limiter.store';
import { BindSessionStore } from './stores/bind-session.store';
import { LoginStateStore } from './stores/login-state.store';
import { LockStore } from './stores/lock.store';
import { StateStore } from './stores/state-store';
import { stateStoreProvider } from './stores/state-store.provider';
import { TokenVaultStore } from './stores/token-vault.store';

/**
 * OpenID Connect Relying Party: login (code + PKCE), account binding, RP-initiated and back-channel
 * logout, Postgres sessions and an encrypted token vault in the state store (Redis or Postgres).
 * Knows nothing of the host app; the host provides a TypeORM connection that includes
 * `OIDC_ENTITIES` and runs `migrations/`.
 *
 *     OidcModule.forRootAsync({ inject: [ConfigService], useFactory: (c) => c.getOrThrow('oidc') })
 */
@Module({
  imports: [TypeOrmModule.forFeature(OIDC_ENTITIES), PassportModule],
  controllers: [LoginController, BindController, LogoutController, BackchannelLogoutController, SessionController, FrontchannelLogoutController, IdentityController],
  providers: [
    stateStoreProvider,
    StatePurgeJob,
    {
      provide: TokenCipher,
      inject: [OIDC_MODULE_OPTIONS],
      useFactory: (options: OidcModuleOptions) => new TokenCipher(options.tokenEncryptionKeys),
    },
    LoginStateStore,
    TokenVaultStore,
    BindSessionStore,
    AttemptLimiterStore,
    LockStore,
    UserRepository,
    IdentityRepository,
    SessionRepository,
    IdpClientService,
    SessionService,
    SessionCookieService,
    LoginCompletionService,
    LoginService,
    BindService,
    LogoutService,
    LogoutTokenVerifier,
    BackchannelLogoutService,
    FrontchannelLogoutService,
    SessionStrategy,
    SessionGuard,
    SameOriginGuard,
    SameOriginNavigationGuard,
    IdentityService,
    OidcTokenService,
    AccessTokenPipe,
    OidcExceptionFilter,
    BrowserErrorFilter,
    TokenOutboxJob,
    SessionPurgeJob,
    OidcMetrics,
    OidcAudit,
    RateLimitStore,
    { provide: getStorageToken(), useExisting: RateLimitStore },
    { provide: getOptionsToken(), inject: [OIDC_MODULE_OPTIONS], useFactory: rateLimitOptions },
    RateLimitGuard,
    RejectionCounterStore,
    BackchannelEndpoint,
    BackchannelDirectPath,
  ],
  exports: [SessionGuard, SessionStrategy, SessionService, OidcTokenService, AccessTokenPipe, IdpClientService, StateStore, OidcMetrics],
})
export class OidcModule extends OidcConfigurableModule implements NestModule, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('OidcModule');

  constructor(
    private readonly idp: IdpClientService,
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    private readonly state: StateStore,
  ) {
    super();
    keyLogTags(this.options.tokenEncryptionKeys[0].key);
  }

  /**
   * Body and cookie parsing, no-store and the module's error shapes, on the module's own routes only
   * (the back-channel endpoint does its own: `BackchannelEndpoint`).
   */
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(ApiRouteMiddleware).forRoutes(LoginController, BindController, LogoutController, SessionController, IdentityController);
    consumer.apply(FrontchannelRouteMiddleware).forRoutes(FrontchannelLogoutController);
  }

  /**
   * Discovery is attempted once at startup (the app still starts if the OP is down; `/health` tells).
   * Whether RP-Initiated Logout is on, and why not, is logged as soon as it is known: here, or at the
   * first login or logout after the OP becomes reachable.
   */
  async onApplicationBootstrap(): Promise<void> {
    for (const provider of this.options.providers) {
      if (provider.backchannelAllowMissingExp) {
        this.logger.warn({
          msg: 'backchannel.allow_missing_exp',
          provider: provider.id,
          detail: 'logout tokens without exp are accepted when their iat is recent (OIDC_BACKCHANNEL_ALLOW_MISSING_EXP)',
          maxAgeMs: provider.backchannelMaxAgeMs,
        });
      }
      if (provider.frontchannelLogoutWithoutCookie) {
        this.logger.warn({
          msg: 'frontchannel.without_cookie',
          provider: provider.id,
          detail: 'front-channel logout ends the sessions of (iss, sid) even without the session cookie: anyone who learns a sid can end that session',
        });
      }
    }
    await Promise.all(
      this.idp.all().map((provider) =>
        provider.endSessionSupport().catch(() => this.logger.warn({ msg: 'discovery.deferred', provider: provider.id, issuer: provider.issuer })),
      ),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.state.close();
  }
}

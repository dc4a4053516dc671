/** Public surface of the OIDC Relying-Party module. */
export { OidcModule } from './oidc.module';
export type { OidcModuleOptions, UnlinkedIdentityPolicy, EncryptionKey, StateStoreKind, RedisConnection, RedisHost } from './oidc.options';
export type { OidcModuleExtras } from './oidc.module-definition';
export { OIDC_ACCOUNT_VERIFIER, OIDC_AFTER_LOGIN } from './oidc.tokens';
export { StateStore } from './stores/state-store';
export type { AccountVerifier, AfterLoginHook, LoginEvent } from './oidc.tokens';
export { OIDC_ENTITIES } from './entities';
export { SessionGuard } from './guards/session.guard';
export { CurrentUser } from './guards/current-user.decorator';
export { AccessToken, AccessTokenPipe } from './guards/access-token.decorator';
export { OidcTokenService } from './services/oidc-token.service';
export { OidcError } from './errors/oidc-error';
export { ApiErrorResponse, type DocumentedErrorCode } from './dto/api-error-response.decorator';
export type { AuthenticatedSession } from './services/session.service';
export { SessionService } from './services/session.service';
export { IdpClientService } from './services/idp-client.service';
export { hashPassword } from './crypto/secrets';
export { OidcMetrics } from './observability/oidc-metrics.service';

import { SessionEntity } from './session.entity';
import { UserIdentityEntity } from './user-identity.entity';
import { UserEntity } from './user.entity';

export { SessionEntity, UserEntity, UserIdentityEntity };

/** Every entity `OidcModule` persists; the host's data source must include them. */
export const OIDC_ENTITIES = [UserEntity, UserIdentityEntity, SessionEntity];

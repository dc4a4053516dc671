import { ApiProperty } from '@nestjs/swagger';

export class ProviderDto {
  @ApiProperty({ example: 'partner' }) id!: string;
  @ApiProperty({ example: 'Partner Keycloak' }) displayName!: string;
  @ApiProperty({ example: 'login?provider=partner', description: 'Relative to /auth/oidc/; add &return_to=… as needed' }) loginUrl!: string;
}

export class ProviderListDto {
  @ApiProperty({ type: [ProviderDto] }) providers!: ProviderDto[];
}

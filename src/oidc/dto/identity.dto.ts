import { ApiProperty } from '@nestjs/swagger';

export class IdentityDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ type: String, nullable: true, example: 'partner', description: 'Id of the provider of this issuer (null when it is no longer configured)' }) provider!: string | null;
  @ApiProperty({ example: 'https://sso.example.com/realms/acme' }) issuer!: string;
  @ApiProperty({ description: 'Subject at the OpenID Provider' }) subject!: string;
  @ApiProperty({ type: String, nullable: true, example: 'alice@example.com', description: 'The email the OP gave at the last sign-in (verified or not)' }) email!: string | null;
  @ApiProperty({ type: String, format: 'date-time', description: 'When it was linked' }) createdAt!: Date;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'Its last sign-in here' }) lastLoginAt!: Date | null;
}

export class IdentityListDto {
  @ApiProperty({ type: [IdentityDto] }) identities!: IdentityDto[];
}

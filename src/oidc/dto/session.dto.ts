import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class SessionUserDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ type: String, nullable: true, example: 'alice@example.com' }) email!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'Alice Example' }) displayName!: string | null;
}

export class SessionInfoDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ example: 'https://sso.example.com/realms/acme' }) issuer!: string;
  @ApiProperty({ description: 'Subject at the OpenID Provider' }) subject!: string;
  @ApiProperty({ type: String, nullable: true, description: 'OP session id (`sid` of the verified ID token)' }) sid!: string | null;
  @ApiProperty({ example: 'default', nullable: true, type: String, description: 'Id of the provider this session signed in with (null when it is no longer configured)' }) provider!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'urn:dev:loa:2', description: 'The ID token\'s `acr`: how the OP authenticated the user' }) acr!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'The ID token\'s `auth_time`: when the user last authenticated at the OP' }) authTime!: string | null;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt!: string;
  @ApiProperty({ type: String, format: 'date-time' }) expiresAt!: string;
}

export class CurrentSessionDto {
  @ApiProperty({ type: SessionUserDto }) user!: SessionUserDto;
  @ApiProperty({ type: SessionInfoDto }) session!: SessionInfoDto;
}

export class SessionListItemDto extends SessionInfoDto {
  @ApiProperty({ type: String, format: 'date-time' }) lastSeenAt!: string;
  @ApiProperty({ type: String, nullable: true, description: 'The browser\'s User-Agent when this session signed in (at most 512 characters)', example: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0' })
  userAgent!: string | null;
  @ApiProperty({ description: 'True for the session making this request' }) current!: boolean;
}

export class SessionListDto {
  @ApiProperty({ type: [SessionListItemDto] }) sessions!: SessionListItemDto[];
}

export class ErrorDto {
  @ApiProperty({ example: 'unauthenticated', description: 'Stable error code' }) error!: string;
  @ApiProperty({ example: 'No valid session: sign in again' }) message!: string;
}

export class BackchannelErrorDto {
  @ApiProperty({ example: 'invalid_request', enum: ['invalid_request', 'temporarily_unavailable', 'server_error'] }) error!: string;
  @ApiPropertyOptional({ example: 'logout_token has expired' }) error_description?: string;
}

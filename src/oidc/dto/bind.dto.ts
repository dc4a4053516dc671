import { ApiProperty } from '@nestjs/swagger';
import { IsString, Length, Matches } from 'class-validator';

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export class BindTokenQueryDto {
  @ApiProperty({ description: 'The one-time bind token from the bind page URL' })
  @IsString()
  @Matches(TOKEN, { message: 'token must be a bind token' })
  token!: string;
}

export class BindCreateDto extends BindTokenQueryDto {}

export class BindConfirmDto extends BindTokenQueryDto {
  @ApiProperty({ description: 'The local account to link: its email for the default verifier', example: 'alice@example.com' })
  @IsString()
  @Length(1, 320)
  identifier!: string;

  @ApiProperty({ description: 'The local account password', format: 'password' })
  @IsString()
  @Length(1, 1024)
  password!: string;
}

export class BindActionsDto {
  @ApiProperty({ description: 'An existing account can be linked with its password' }) confirm!: boolean;
  @ApiProperty({ description: 'A new account can be created (allowed by config and the OP verified the email)' }) create!: boolean;
}

export class BindInfoDto {
  @ApiProperty({ example: 'https://sso.example.com/realms/acme' }) issuer!: string;
  @ApiProperty({ type: String, nullable: true, example: 'a***e@example.com' }) email!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'Alice Example' }) name!: string | null;
  @ApiProperty({ type: BindActionsDto }) actions!: BindActionsDto;
  @ApiProperty({
    type: String,
    nullable: true,
    enum: ['create_not_allowed', 'email_missing', 'email_not_verified'],
    description: 'Why `actions.create` is false (creation disabled, or the OP gave no email or did not verify it); null when it is true',
  })
  createUnavailableReason!: 'create_not_allowed' | 'email_missing' | 'email_not_verified' | null;
  @ApiProperty({ type: String, format: 'date-time' }) expiresAt!: Date;
}

export class BindResultDto {
  @ApiProperty({ description: 'Where the browser goes next (the login\'s validated return_to)', example: '/' }) returnTo!: string;
  @ApiProperty({ format: 'uuid' }) sessionId!: string;
}

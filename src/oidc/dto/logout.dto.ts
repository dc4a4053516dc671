import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsOptional } from 'class-validator';

export class LogoutRequestDto {
  @ApiPropertyOptional({ description: 'Revoke every session of the user, not only this one', default: false })
  @IsOptional()
  @IsBoolean()
  everywhere?: boolean;
}

export class LogoutResponseDto {
  @ApiPropertyOptional({
    description:
      'Where to send the browser to end the OP session (RP-Initiated Logout). Carries this session\'s id_token_hint; single use; ' +
      'present only when OIDC_POST_LOGOUT_REDIRECT_URI is set, an https end-session endpoint is known and the id_token is still cached.',
  })
  endSessionUrl?: string;
}

/** Swagger schema of the form body; the controller reads and bounds it itself (form only). */
export class BackchannelLogoutDto {
  @ApiProperty({ description: 'The OP-signed logout token (Back-Channel Logout 1.0)', maxLength: 16_384 })
  logout_token!: string;
}

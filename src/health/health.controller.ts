import { Controller, Get, Res } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { IdpClientService, type OidcModuleOptions, StateStore, type StateStoreKind } from '../oidc';

type Check = 'up' | 'down';

class HealthDto {
  @ApiProperty({ enum: ['ok', 'degraded'] }) status!: 'ok' | 'degraded';
  @ApiProperty({ enum: ['up', 'down'] }) postgres!: Check;
  @ApiProperty({ enum: ['up', 'down'], description: 'The state store (login state, token vault, counters)' }) stateStore!: Check;
  @ApiProperty({ enum: ['redis', 'postgres'] }) stateStoreKind!: StateStoreKind;
  @ApiProperty({ enum: ['up', 'down'], description: 'OpenID Provider discovery' }) discovery!: Check;
}

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly db: DataSource,
    private readonly state: StateStore,
    private readonly idp: IdpClientService,
    private readonly config: ConfigService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Postgres, state store and OP discovery status' })
  @ApiOkResponse({ type: HealthDto })
  @ApiServiceUnavailableResponse({ type: HealthDto, description: 'At least one dependency is down' })
  async health(@Res({ passthrough: true }) res: Response): Promise<HealthDto> {
    const [postgres, stateStore, discovery] = await Promise.all([
      check(() => this.db.query('SELECT 1')),
      check(() => this.state.ping()),
      check(() => this.idp.probe()),
    ]);
    const ok = postgres === 'up' && stateStore === 'up' && discovery === 'up';
    res.status(ok ? 200 : 503).setHeader('Cache-Control', 'no-store');
    const stateStoreKind = this.config.getOrThrow<OidcModuleOptions>('oidc').stateStore;
    return { status: ok ? 'ok' : 'degraded', postgres, stateStore, stateStoreKind, discovery };
  }
}

async function check(probe: () => Promise<unknown>): Promise<Check> {
  try {
    await Promise.race([probe(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 3_000).unref())]);
    return 'up';
  } catch {
    return 'down';
  }
}

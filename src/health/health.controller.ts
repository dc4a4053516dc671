import { Controller, Get, Header, Res } from '@nestjs/common';
import { HealthCheck, type HealthCheckResult, HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
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
  @ApiProperty({ enum: ['up', 'down'], description: 'OpenID Provider discovery: up when every configured provider answers' }) discovery!: Check;
  @ApiProperty({ description: 'Discovery status per provider id', example: { default: 'up', partner: 'down' } }) providers!: Record<string, Check>;
}

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly db: DataSource,
    private readonly state: StateStore,
    private readonly idp: IdpClientService,
    private readonly config: ConfigService,
    private readonly checks: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly typeorm: TypeOrmHealthIndicator,
  ) {}

  /** Liveness: the process answers. Nothing external is checked, so an outage never restarts instances. */
  @Get('live')
  @Header('Cache-Control', 'no-store')
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: the process is up (for a restart policy)' })
  live(): Promise<HealthCheckResult> {
    return this.checks.check([]);
  }

  /**
   * Readiness: Postgres and the state store answer (503 otherwise, so a load balancer stops sending
   * traffic). The OP is reported but never makes the instance unready: an OP outage affects every
   * instance alike, and sessions keep working without it.
   */
  @Get('ready')
  @Header('Cache-Control', 'no-store')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: Postgres and the state store; the OP shows as degraded, never unready' })
  ready(): Promise<HealthCheckResult> {
    return this.checks.check([
      () => this.typeorm.pingCheck('postgres', { timeout: 3_000 }),
      async () => {
        const indicator = this.indicators.check('stateStore');
        const kind = this.config.getOrThrow<OidcModuleOptions>('oidc').stateStore;
        return (await check(() => this.state.ping())) === 'up' ? indicator.up({ kind }) : indicator.down({ kind });
      },
      async () => {
        const providers = await this.idp.probeAll();
        const discovery = Object.values(providers).every((s) => s === 'up') ? 'up' : 'down';
        return this.indicators.check('openidProvider').up({ discovery, providers, degraded: discovery === 'down' });
      },
    ]);
  }

  @Get()
  @ApiOperation({ summary: 'Postgres, state store and OP discovery status' })
  @ApiOkResponse({ type: HealthDto })
  @ApiServiceUnavailableResponse({ type: HealthDto, description: 'At least one dependency is down' })
  async health(@Res({ passthrough: true }) res: Response): Promise<HealthDto> {
    const [postgres, stateStore, providers] = await Promise.all([
      check(() => this.db.query('SELECT 1')),
      check(() => this.state.ping()),
      this.idp.probeAll(),
    ]);
    const discovery = Object.values(providers).every((s) => s === 'up') ? 'up' : 'down';
    const ok = postgres === 'up' && stateStore === 'up' && discovery === 'up';
    res.status(ok ? 200 : 503).setHeader('Cache-Control', 'no-store');
    const stateStoreKind = this.config.getOrThrow<OidcModuleOptions>('oidc').stateStore;
    return { status: ok ? 'ok' : 'degraded', postgres, stateStore, stateStoreKind, discovery, providers };
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

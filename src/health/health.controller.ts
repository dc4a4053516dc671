import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { IdpClientService, OIDC_REDIS } from '../oidc';

type Check = 'up' | 'down';

class HealthDto {
  @ApiProperty({ enum: ['ok', 'degraded'] }) status!: 'ok' | 'degraded';
  @ApiProperty({ enum: ['up', 'down'] }) postgres!: Check;
  @ApiProperty({ enum: ['up', 'down'] }) redis!: Check;
  @ApiProperty({ enum: ['up', 'down'], description: 'OpenID Provider discovery' }) discovery!: Check;
}

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly db: DataSource,
    @Inject(OIDC_REDIS) private readonly redis: Redis,
    private readonly idp: IdpClientService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Postgres, Redis and OP discovery status' })
  @ApiOkResponse({ type: HealthDto })
  @ApiServiceUnavailableResponse({ type: HealthDto, description: 'At least one dependency is down' })
  async health(@Res({ passthrough: true }) res: Response): Promise<HealthDto> {
    const [postgres, redis, discovery] = await Promise.all([
      check(() => this.db.query('SELECT 1')),
      check(() => this.redis.ping()),
      check(() => this.idp.probe()),
    ]);
    const ok = postgres === 'up' && redis === 'up' && discovery === 'up';
    res.status(ok ? 200 : 503).setHeader('Cache-Control', 'no-store');
    return { status: ok ? 'ok' : 'degraded', postgres, redis, discovery };
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

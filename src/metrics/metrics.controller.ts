import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { OidcMetrics } from '../oidc';
import { metricsRegistry } from './metrics';

/** `GET /metrics` on the app's port (when METRICS_ENABLED and no METRICS_PORT). */
@ApiTags('health')
@Controller('metrics')
export class MetricsController {
  private readonly scrape: ReturnType<typeof metricsRegistry>;

  constructor(oidc: OidcMetrics) {
    this.scrape = metricsRegistry(oidc);
  }

  @Get()
  @ApiOperation({ summary: 'Prometheus metrics: OidcModule outcomes, request durations, live sessions, process' })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text exposition format' })
  async metrics(@Res() res: Response): Promise<void> {
    const { contentType, body } = await this.scrape();
    res.status(200).setHeader('Content-Type', contentType).setHeader('Cache-Control', 'no-store').send(body);
  }
}

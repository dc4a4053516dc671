import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';

/**
 * The demo host's trivial unguarded route: answers `{ ok: true }` without touching any store. It is the
 * baseline `npm run bench:throughput` compares an authenticated request (`GET /auth/session`) with.
 */
@ApiTags('demo')
@Controller('api')
export class DemoPingController {
  @Get('ping')
  @ApiOperation({ summary: 'Liveness of the host app itself (no store, no session)' })
  @ApiOkResponse({ schema: { type: 'object', example: { ok: true } } })
  ping(): { ok: true } {
    return { ok: true };
  }
}

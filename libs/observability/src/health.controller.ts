import { Controller, Get, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { HealthService } from './health.service';
import { MetricsService } from './metrics.service';

@ApiExcludeController()
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthService,
    private readonly metrics: MetricsService,
  ) {}

  @Get('health/live')
  live(): { ok: true } {
    return { ok: true };
  }

  @Get('health/ready')
  async ready(@Res() res: Response): Promise<void> {
    const result = await this.health.readiness();
    res.status(result.ok ? 200 : 503).json(result);
  }

  @Get('metrics')
  async render(@Res() res: Response): Promise<void> {
    const { contentType, body } = await this.metrics.render();
    res.setHeader('Content-Type', contentType);
    res.send(body);
  }
}

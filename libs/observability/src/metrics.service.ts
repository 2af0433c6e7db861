import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Millisecond buckets from sub-ms to a minute: push latency lives at both ends. Dense up to 50 ms,
 * where the per-stage targets (5, 10, 30, 50 ms) are judged, so a quantile estimate is not off by
 * a whole wide bucket.
 */
export const LATENCY_BUCKETS_MS = [0.25, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 40, 50, 75, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000];

/** The app's Prometheus registry; metrics are created once by name and shared. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly metrics = new Map<string, Counter<string> | Gauge<string> | Histogram<string>>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'pushmail_' });
  }

  counter(name: string, help: string, labelNames: string[] = []): Counter<string> {
    return this.getOrCreate(name, () => new Counter({ name, help, labelNames, registers: [this.registry] })) as Counter<string>;
  }

  gauge(name: string, help: string, labelNames: string[] = [], collect?: (this: Gauge<string>) => void | Promise<void>): Gauge<string> {
    return this.getOrCreate(name, () => new Gauge({ name, help, labelNames, registers: [this.registry], collect })) as Gauge<string>;
  }

  histogram(name: string, help: string, labelNames: string[] = [], buckets = LATENCY_BUCKETS_MS): Histogram<string> {
    return this.getOrCreate(name, () => new Histogram({ name, help, labelNames, buckets, registers: [this.registry] })) as Histogram<string>;
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private getOrCreate(name: string, create: () => Counter<string> | Gauge<string> | Histogram<string>) {
    let metric = this.metrics.get(name);
    if (!metric) {
      metric = create();
      this.metrics.set(name, metric);
    }
    return metric;
  }
}

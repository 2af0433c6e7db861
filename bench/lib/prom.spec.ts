import { diffHistograms, gaugeValue, histogramQuantile, mergeSeries, parseHistograms } from './prom';

const body = (counts: number[], sum: number) => `# HELP pushmail_x_ms x
# TYPE pushmail_x_ms histogram
pushmail_x_ms_bucket{le="1",stage="fetch"} ${counts[0]}
pushmail_x_ms_bucket{le="10",stage="fetch"} ${counts[1]}
pushmail_x_ms_bucket{le="100",stage="fetch"} ${counts[2]}
pushmail_x_ms_bucket{le="+Inf",stage="fetch"} ${counts[3]}
pushmail_x_ms_sum{stage="fetch"} ${sum}
pushmail_x_ms_count{stage="fetch"} ${counts[3]}
pushmail_nodejs_heap_size_used_bytes 12345
`;

describe('Prometheus histograms', () => {
  it('parses buckets per label set and estimates quantiles like histogram_quantile', () => {
    const [series] = [...parseHistograms(body([0, 50, 100, 100], 2000)).values()];
    expect(series.name).toBe('pushmail_x_ms');
    expect(series.labels).toEqual({ stage: 'fetch' });
    expect(series.count).toBe(100);
    // half the observations lie in (1, 10]: the median is that bucket's upper edge
    expect(histogramQuantile(series, 0.5)).toBeCloseTo(10);
    // the 99th of 100 sits 49/50 of the way through (10, 100]
    expect(histogramQuantile(series, 0.99)).toBeCloseTo(10 + 90 * (49 / 50));
  });

  it('counts only what happened between two scrapes, and sums replicas', () => {
    const before = parseHistograms(body([0, 10, 10, 10], 50));
    const after = parseHistograms(body([0, 10, 30, 30], 850));
    const [delta] = [...diffHistograms(after, before).values()];
    expect(delta.count).toBe(20);
    expect(delta.buckets.map(([, c]) => c)).toEqual([0, 0, 20, 20]);
    expect(histogramQuantile(delta, 0.5)).toBeGreaterThan(10);
    expect(mergeSeries([delta, delta])!.count).toBe(40);
  });

  it('reads a gauge', () => {
    expect(gaugeValue(body([0, 0, 0, 0], 0), 'pushmail_nodejs_heap_size_used_bytes')).toBe(12345);
    expect(gaugeValue('', 'missing')).toBeNaN();
  });
});

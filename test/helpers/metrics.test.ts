import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMetrics, sample } from './metrics.ts';

const TEXT = [
  '# HELP x_total Things done.',
  '# TYPE x_total counter',
  'x_total{result="ok",channel="slack"} 3',
  'x_total{result="failed",channel="slack"} 1',
  '# TYPE y gauge',
  'y 0.5',
  'y_extra 7',
  '',
].join('\n');

describe('the metrics-sample parser', () => {
  it('reads samples with their labels, and the TYPE and HELP lines', () => {
    const { samples, types, help } = parseMetrics(TEXT);
    assert.equal(samples.length, 4);
    assert.deepEqual(samples[0], { name: 'x_total', labels: { result: 'ok', channel: 'slack' }, value: 3 });
    assert.equal(types.get('x_total'), 'counter');
    assert.equal(help.get('x_total'), 'Things done.');
  });

  it('finds a sample by exact name and a subset of its labels, else undefined', () => {
    assert.equal(sample(TEXT, 'x_total', { result: 'failed' }), 1);
    assert.equal(sample(TEXT, 'y'), 0.5, 'not y_extra');
    assert.equal(sample(TEXT, 'x_total', { result: 'skipped' }), undefined);
    assert.equal(sample(TEXT, 'z'), undefined);
  });

  it('fails on a line that is not the text format instead of reporting the sample absent', () => {
    assert.throws(() => parseMetrics('y 1\nthis is not a sample\n'), /unparseable metrics line: this is not a sample/);
  });
});

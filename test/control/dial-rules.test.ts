import { describe, it, expect } from 'vitest';
import { normaliseNumber, compileForbidden, DEFAULT_DIAL_RULES, CallControlError } from '../../src/control/index.js';

describe('outbound number rules', () => {
  it('normalises +86, spaces and dashes; classifies mobile, local, long distance and service numbers', () => {
    expect(normaliseNumber('+86 138-0000-0001')).toEqual({ number: '13800000001', kind: 'mobile', dial: '13800000001' });
    expect(normaliseNumber('008613800000001').number).toBe('13800000001');
    expect(normaliseNumber('8613800000001').number).toBe('13800000001');
    expect(normaliseNumber('013800000001')).toMatchObject({ number: '13800000001', kind: 'mobile' });
    expect(normaliseNumber('0571 8888 1234')).toMatchObject({ number: '057188881234', kind: 'long_distance' });
    expect(normaliseNumber('6512 3456')).toMatchObject({ number: '65123456', kind: 'local' });
    expect(normaliseNumber('12315')).toMatchObject({ kind: 'service' });
    expect(normaliseNumber('110')).toMatchObject({ kind: 'service' });
  });

  it('drops the center’s own area code and adds the outside-line prefix', () => {
    const rules = { ...DEFAULT_DIAL_RULES, localAreaCode: '010', outsideLinePrefix: '9' };
    expect(normaliseNumber('(010) 6512-3456', rules)).toEqual({ number: '65123456', kind: 'local', dial: '965123456' });
    expect(normaliseNumber('021 6512 3456', rules)).toEqual({ number: '02165123456', kind: 'long_distance', dial: '902165123456' });
    expect(normaliseNumber('13800000001', rules).dial).toBe('913800000001');
  });

  it('refuses premium, international and configured destinations', () => {
    for (const n of ['19001234567', '1900123', '+44 20 7946 0000', '0044207946000', '95555']) {
      expect(() => normaliseNumber(n)).toThrow(CallControlError);
    }
    const rules = { ...DEFAULT_DIAL_RULES, forbidden: compileForbidden(['^0571']) };
    expect(() => normaliseNumber('057188881234', rules)).toThrow(/禁止拨打/);
    expect(() => normaliseNumber('12', rules)).toThrow(/格式不正确/);
  });
});

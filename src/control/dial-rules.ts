// Number rules for calls the CTI places to outside numbers (click-to-call, transfer to 110/12315…):
// normalisation, forbidden destinations, the outside-line prefix.
import { CallControlError } from './errors.js';

export interface DialRules {
  /** prepended to every outside number (e.g. "9" for an outside line on the PBX); "" = none */
  outsideLinePrefix: string;
  /** the center's own area code ("010" for Beijing): a local number dialled with it loses it */
  localAreaCode?: string;
  /** normalised numbers matching one of these are refused (premium 1900…, international 00…) */
  forbidden: RegExp[];
  /** short service numbers that are always allowed (110, 119, 120, 122, 12315, 12328, 12366 …) */
  allowedShort: RegExp;
}

export const DEFAULT_DIAL_RULES: DialRules = {
  outsideLinePrefix: '',
  forbidden: [/^00/, /^1900\d*/, /^1[69]0\d{5,}$/, /^95\d{3}$/],
  allowedShort: /^(1[0-9]{2}|12[0-9]{3})$/,
};

export type NumberKind = 'mobile' | 'local' | 'long_distance' | 'service';

export interface NormalisedNumber {
  /** digits only, without +86 / 0086 and without the center's own area code */
  number: string;
  kind: NumberKind;
  /** what goes into the dial string (outside-line prefix included) */
  dial: string;
}

/**
 * "+86 138-0000 0001" → 13800000001 (mobile); "010 12345678" in Beijing → 12345678 (local); "0571 8888 1234" →
 * 057188881234 (long distance, 0-prefixed); "12315" → service. Throws number_invalid / number_forbidden.
 */
export function normaliseNumber(raw: string, rules: DialRules = DEFAULT_DIAL_RULES): NormalisedNumber {
  let s = raw.trim().replace(/[\s\-().]/g, '');
  if (s.startsWith('+')) {
    s = s.slice(1);
    if (!s.startsWith('86')) throw new CallControlError('number_forbidden', `不允许拨打国际号码 ${raw}`);
    s = s.slice(2);
  } else if (s.startsWith('0086')) s = s.slice(4);
  else if (/^861\d{10}$/.test(s)) s = s.slice(2);
  if (!/^\d{3,20}$/.test(s)) throw new CallControlError('number_invalid', `号码 ${raw} 格式不正确`);
  // a mobile number written with a leading 0 (long-distance habit) is still a mobile number
  if (/^01[3-9]\d{9}$/.test(s)) s = s.slice(1);
  for (const re of rules.forbidden) if (re.test(s)) throw new CallControlError('number_forbidden', `禁止拨打该号码：${s}`);
  let kind: NumberKind;
  if (/^1[3-9]\d{9}$/.test(s)) kind = 'mobile';
  else if (rules.allowedShort.test(s)) kind = 'service';
  else if (/^0[1-9]\d{8,10}$/.test(s)) {
    kind = 'long_distance';
    const area = rules.localAreaCode;
    if (area && s.startsWith(area) && s.length - area.length >= 7) {
      s = s.slice(area.length);
      kind = 'local';
    }
  } else if (/^[2-9]\d{6,7}$/.test(s)) kind = 'local';
  else throw new CallControlError('number_invalid', `号码 ${raw} 格式不正确`);
  return { number: s, kind, dial: rules.outsideLinePrefix + s };
}

/** Patterns from configuration ("^1900", "^00") → RegExps; a bad pattern fails at start-up, not at dial time. */
export function compileForbidden(patterns: readonly string[]): RegExp[] {
  return patterns.map((p) => new RegExp(p));
}

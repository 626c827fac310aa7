// Users (the XML directory), SIP registrations on the internal profile, and the sofia::* events they fire.
import { randomUUID } from 'node:crypto';
import type { SwitchCore } from './core.js';
import { EslEvent, localStamp } from './event.js';
import type { TimerHandle } from './clock.js';

export interface DirectoryUser {
  id: string;
  password: string;
  /** directory variables (merged into sofia::register events and user/ legs) */
  vars: Record<string, string>;
}

export interface Registration {
  user: string;
  contact: string;
  /** user part of the contact URI: the channel to the phone is sofia/internal/<contactUser>@<host>:<port> */
  contactUser: string;
  host: string;
  port: number;
  callId: string;
  agent: string;
  expiresSec: number;
  registeredMs: number;
  expireTimer?: TimerHandle;
  expiredPending?: boolean;
}

/** stock FreeSWITCH directory variables for user N (conf/directory/default/N.xml) */
function stockVars(id: string, domain: string): Record<string, string> {
  return {
    sip_number_alias: id,
    sip_auth_username: id,
    sip_auth_realm: domain,
    number_alias: id,
    user_name: id,
    domain_name: domain,
    record_stereo: 'true',
    default_gateway: 'example.com',
    default_areacode: '918',
    transfer_fallback_extension: 'operator',
    toll_allow: 'domestic,international,local',
    accountcode: id,
    user_context: 'default',
    effective_caller_id_name: `Extension ${id}`,
    effective_caller_id_number: id,
    outbound_caller_id_name: 'FreeSWITCH',
    outbound_caller_id_number: '0000000000',
    callgroup: 'techsupport',
  };
}

export class Directory {
  readonly users = new Map<string, DirectoryUser>();
  /** newest registration per user (a user with several contacts keeps the latest) */
  readonly regs = new Map<string, Registration>();
  /** how often the profile looks for expired registrations (the real one: every 30 s) */
  expireCheckMs = 30_000;

  constructor(
    private readonly core: SwitchCore,
    readonly domain = '127.0.0.1',
  ) {
    for (let i = 1000; i <= 1019; i++) this.addUser(String(i));
  }

  addUser(id: string, password = 'fsLoop4321', vars: Record<string, string> = {}): DirectoryUser {
    const u = { id, password, vars: { ...stockVars(id, this.domain), ...vars } };
    this.users.set(id, u);
    return u;
  }
  removeUser(id: string): void {
    this.users.delete(id);
    this.regs.delete(id);
  }

  /** REGISTER (expires > 0) from a phone; fires sofia::register. Returns false on unknown user / bad password. */
  register(user: string, opts: { password?: string; contactUser?: string; host?: string; port?: number; expires?: number; agent?: string; quiet?: boolean } = {}): boolean {
    const u = this.users.get(user);
    if (!u) return false;
    if (opts.password !== undefined && opts.password !== u.password) return false;
    const old = this.regs.get(user);
    if (old) this.core.clock.clearTimeout(old.expireTimer);
    const contactUser = opts.contactUser ?? `gw+agent${user}`;
    const host = opts.host ?? '127.0.0.1';
    const port = opts.port ?? 5090;
    const gwParam = contactUser.startsWith('gw+') ? `;transport=udp;gw=${contactUser.slice(3)}` : '';
    const reg: Registration = {
      user,
      contactUser,
      host,
      port,
      contact: `"" <sip:${contactUser}@${host}:${port}${gwParam}>`,
      callId: randomUUID(),
      agent: opts.agent ?? 'FreeSWITCH-mod_sofia/1.11.3-dev~64bit',
      expiresSec: opts.expires ?? 3600,
      registeredMs: this.core.now(),
    };
    this.regs.delete(user);
    this.regs.set(user, reg);
    this.scheduleExpiry(reg);
    if (!opts.quiet) {
      this.fire('sofia::register', 2059, 'sofia_reg_handle_register_token', {
        'profile-name': 'internal',
        'from-user': user,
        'from-host': this.domain,
        'presence-hosts': `${this.domain},${this.domain}`,
        contact: reg.contact,
        'call-id': reg.callId,
        rpid: 'unknown',
        status: 'Registered(UDP)',
        expires: String(reg.expiresSec),
        'to-user': user,
        'to-host': this.domain,
        'network-ip': host,
        'network-port': String(port),
        username: user,
        realm: this.domain,
        'user-agent': reg.agent,
        ...u.vars,
      });
    }
    return true;
  }

  /** REGISTER with Expires: 0: every contact of the user goes; fires sofia::unregister */
  unregister(user: string, opts: { contact?: string; host?: string; port?: number; agent?: string; callId?: string } = {}): boolean {
    const u = this.users.get(user);
    const reg = this.regs.get(user);
    if (!u) return false;
    if (reg) this.core.clock.clearTimeout(reg.expireTimer);
    this.regs.delete(user);
    this.fire('sofia::unregister', 2213, 'sofia_reg_handle_register_token', {
      'profile-name': 'internal',
      username: user,
      'from-user': user,
      'from-host': this.domain,
      contact: opts.contact ?? reg?.contact ?? `"" <sip:${user}@127.0.0.1:5090>`,
      'call-id': opts.callId ?? reg?.callId ?? randomUUID(),
      rpid: 'unknown',
      realm: this.domain,
      'network-ip': opts.host ?? reg?.host ?? '127.0.0.1',
      'network-port': String(opts.port ?? reg?.port ?? 5090),
      'user-agent': opts.agent ?? reg?.agent ?? 'FreeSWITCH-mod_sofia/1.11.3-dev~64bit',
      expires: '0',
      ...u.vars,
    });
    return true;
  }

  /** the profile's periodic check finds the registration expired: sofia::expire (up to expireCheckMs late) */
  private scheduleExpiry(reg: Registration): void {
    const age = reg.expiresSec * 1000;
    // checks run on a fixed grid from the registration; the first check at or after expiry fires the event
    const due = Math.ceil(age / this.expireCheckMs) * this.expireCheckMs + 300;
    reg.expireTimer = this.core.clock.setTimeout(() => {
      if (this.regs.get(reg.user) !== reg) return;
      this.fire('sofia::expire', 726, 'sofia_reg_del_callback', {
        'profile-name': 'internal',
        'call-id': reg.callId,
        user: reg.user,
        username: reg.user,
        host: this.domain,
        contact: reg.contact,
        expires: String(Math.floor((reg.registeredMs + age) / 1000)),
        'user-agent': reg.agent,
        realm: this.domain,
        'network-ip': reg.host,
        'network-port': String(reg.port),
      });
      // the listing still shows it for a moment after the event (as observed)
      reg.expiredPending = true;
      this.core.clock.setTimeout(() => {
        if (this.regs.get(reg.user) === reg) this.regs.delete(reg.user);
      }, 5000);
    }, due);
  }

  isRegistered(user: string): boolean {
    const r = this.regs.get(user);
    return !!r && !r.expiredPending;
  }

  private fire(subclass: string, line: number, fn: string, fields: Record<string, string>): void {
    const h = this.core.events.core('CUSTOM', ['sofia_reg.c', fn, line], subclass);
    Object.assign(h, fields);
    this.core.emit(new EslEvent('CUSTOM', h, undefined, subclass));
  }

  /** `sofia status profile internal reg [user]` */
  statusReg(filter?: string): string {
    const line = '='.repeat(97);
    let out = `\nRegistrations:\n${line}\n`;
    let n = 0;
    const now = this.core.now();
    for (const r of this.regs.values()) {
      if (filter && r.user !== filter && !r.contact.includes(filter)) continue;
      n++;
      const exp = r.registeredMs + r.expiresSec * 1000;
      out +=
        `Call-ID:    \t${r.callId}\nUser:       \t${r.user}@${this.domain}\nContact:    \t${r.contact}\nAgent:      \t${r.agent}\n` +
        `Status:     \tRegistered(UDP)(unknown) EXP(${localStamp(exp)}) EXPSECS(${Math.round((exp - now) / 1000)})\n` +
        `Ping-Status:\tReachable\nPing-Time:\t0.00\nHost:       \t${this.core.identity.hostname}\nIP:         \t${r.host}\nPort:       \t${r.port}\n` +
        `Auth-User:  \t${r.user}\nAuth-Realm: \t${this.domain}\nMWI-Account:\t${r.user}@${this.domain}\n\n`;
    }
    out += `Total items returned: ${n}\n${line}\n`;
    return out;
  }
}

// POST /freeswitch/directory: FreeSWITCH's mod_xml_curl asks for a SIP user (REGISTER/INVITE auth, user/ dialing)
// and gets the agent's directory entry, so an agent created in the CTI can register at once.
//
// Protection: loopback callers only unless XML_CURL_ALLOW_REMOTE=true; when XML_CURL_SECRET is set the request
// must carry it, as the basic-auth password (xml_curl's gateway-credentials "freeswitch:<secret>") or ?token=<secret>.
// A remote caller always needs the secret.
// The SIP password is served as `password` rather than an a1-hash: an a1-hash is bound to the digest realm, and the
// realm a phone uses (challenge-realm auto_from) need not be the domain FreeSWITCH looks up; the password works for
// both, and an a1-hash would be just as good as the password to an eavesdropper on this loopback request anyway.
// Answers come from the node's DirectoryCache (directory-cache.ts): xml_curl asks on every REGISTER and offer.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AppContext } from '../app-context.js';
import { safeEqual } from '../auth/sessions.js';
import { directoryCacheFor } from './directory-cache.js';

export const NOT_FOUND_XML =
  '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' +
  '<document type="freeswitch/xml">\n  <section name="result">\n    <result status="not found"/>\n  </section>\n</document>\n';

export function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** The tenant a SIP domain belongs to: a domain whose first label is a tenant id ("demo" or "demo.hotline.example"), else the default. */
export async function tenantForDomain(ctx: AppContext, domain: string): Promise<string> {
  const label = domain.split('.')[0]?.toLowerCase() ?? '';
  if (/^[a-z][a-z0-9_-]{0,31}$/.test(label) && (await directoryCacheFor(ctx).tenantExists(label))) return label;
  return ctx.env.SIP_DEFAULT_TENANT;
}

interface DirectoryUser {
  extension: string;
  domain: string;
  sipPassword: string;
  displayName: string;
  tenantId: string;
  userId: string;
  loginId: string;
  /** XML_CURL_USER_CACHE_MS: FreeSWITCH caches the entry this long (0: asks again every time) */
  switchCacheMs?: number;
}

export function directoryXml(u: DirectoryUser): string {
  const e = xmlEscape;
  return `<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<document type="freeswitch/xml">
  <section name="directory">
    <domain name="${e(u.domain)}">
      <params>
        <param name="dial-string" value="{^^:sip_invite_domain=\${dialed_domain}:presence_id=\${dialed_user}@\${dialed_domain}}\${sofia_contact(*/\${dialed_user}@\${dialed_domain})}"/>
      </params>
      <groups>
        <group name="agents">
          <users>
            <user id="${e(u.extension)}"${u.switchCacheMs ? ` cacheable="${u.switchCacheMs}"` : ''}>
              <params>
                <param name="password" value="${e(u.sipPassword)}"/>
                <param name="allow-empty-password" value="false"/>
              </params>
              <variables>
                <variable name="user_context" value="agents"/>
                <variable name="effective_caller_id_name" value="${e(u.displayName)}"/>
                <variable name="effective_caller_id_number" value="${e(u.extension)}"/>
                <variable name="hotline_tenant" value="${e(u.tenantId)}"/>
                <variable name="hotline_user_id" value="${e(u.userId)}"/>
                <variable name="hotline_login_id" value="${e(u.loginId)}"/>
              </variables>
            </user>
          </users>
        </group>
      </groups>
    </domain>
  </section>
</document>
`;
}

function presentedSecret(request: FastifyRequest, body: Record<string, string>): string | undefined {
  const auth = request.headers.authorization;
  if (auth?.startsWith('Basic ')) {
    const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1);
  }
  const q = (request.query as Record<string, unknown>)?.token;
  if (typeof q === 'string') return q;
  return body.token;
}

export function freeswitchDirectoryRoutes(ctx: AppContext): FastifyPluginAsync {
  const { env, log } = ctx;
  return async (app) => {
    const cache = directoryCacheFor(ctx);
    await cache.start(ctx.redis, ctx.redisPrefix, log);
    app.addHook('onClose', async () => cache.stop());
    if (!env.XML_CURL_SECRET) log.warn('XML_CURL_SECRET is unset: /freeswitch/directory answers loopback callers only, without a secret');
    if (env.XML_CURL_ALLOW_REMOTE && !env.XML_CURL_SECRET) log.error('XML_CURL_ALLOW_REMOTE=true needs XML_CURL_SECRET; remote callers are refused');

    // mod_xml_curl posts application/x-www-form-urlencoded; only this plugin (scope) accepts it
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 65_536 }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });

    app.post<{ Body: Record<string, string>; Querystring: { token?: string } }>(
      '/freeswitch/directory',
      {
        schema: {
          tags: ['freeswitch'],
          summary: 'mod_xml_curl directory binding (form-encoded, as FreeSWITCH sends it)',
          description:
            'Answers the directory entry (SIP password, caller id, hotline_tenant) of an agent phone, or the standard "not found" ' +
            'result. Loopback only unless XML_CURL_ALLOW_REMOTE=true; requires XML_CURL_SECRET (basic-auth password or ?token=) when set.',
          querystring: { type: 'object', properties: { token: { type: 'string', maxLength: 256 } } },
          consumes: ['application/x-www-form-urlencoded'],
          body: {
            type: 'object',
            properties: {
              section: { type: 'string', maxLength: 64 },
              user: { type: 'string', maxLength: 128 },
              domain: { type: 'string', maxLength: 255 },
              action: { type: 'string', maxLength: 64 },
              purpose: { type: 'string', maxLength: 64 },
              key_value: { type: 'string', maxLength: 255 },
            },
          },
        },
      },
      async (request, reply) => {
        const body = request.body ?? {};
        const remoteAddress = request.socket.remoteAddress;
        const loopback = isLoopback(remoteAddress);
        if (!loopback && (!env.XML_CURL_ALLOW_REMOTE || !env.XML_CURL_SECRET)) {
          log.warn({ remoteAddress }, 'directory request from a non-loopback address refused');
          return reply.code(403).type('text/plain').send('forbidden');
        }
        if (env.XML_CURL_SECRET) {
          const secret = presentedSecret(request, body);
          if (!secret || !safeEqual(secret, env.XML_CURL_SECRET)) {
            return reply.code(401).header('www-authenticate', 'Basic realm="freeswitch"').type('text/plain').send('unauthorized');
          }
        }
        reply.type('text/xml; charset=utf-8');
        // sofia asks with purpose=gateways / network-list at profile start: nothing of ours to add
        if (body.section !== 'directory' || body.purpose || !body.user || !body.domain) return NOT_FOUND_XML;
        const tenantId = await tenantForDomain(ctx, body.domain);
        const user = await cache.findSipUser(tenantId, body.user);
        if (!user) {
          log.info({ user: body.user, domain: body.domain, tenantId, action: body.action }, 'directory: no such SIP user');
          return NOT_FOUND_XML;
        }
        return directoryXml({
          extension: user.extension!,
          domain: body.domain,
          sipPassword: user.sipPassword!,
          displayName: user.displayName,
          tenantId: user.tenantId,
          userId: user.id,
          loginId: user.loginId,
          switchCacheMs: env.XML_CURL_USER_CACHE_MS,
        });
      },
    );
  };
}

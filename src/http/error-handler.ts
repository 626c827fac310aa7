// Turns every error into the ErrorBody shape. Bad input is always a 400 naming the field; unexpected errors are
// logged in full and answered with a generic 500 that leaks nothing.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError, errorBody } from './errors.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';

interface AjvError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** "/items/0/name" → "items.0.name"; required/additionalProperties errors name the property itself. */
export function fieldOf(e: AjvError, context: string | undefined): string {
  const base = (e.instancePath ?? '').split('/').filter(Boolean).join('.');
  const prop = (e.params?.missingProperty ?? e.params?.additionalProperty) as string | undefined;
  if (prop) return base ? `${base}.${prop}` : prop;
  return base || context || 'body';
}

function validationMessage(e: AjvError, field: string): string {
  if (e.keyword === 'required') return `${field} is required`;
  if (e.keyword === 'additionalProperties') return `${field} is not allowed`;
  return `${field} ${e.message ?? 'is invalid'}`;
}

const STATUS_CODES: Record<number, [string, string]> = {
  400: ['bad_request', '请求格式错误'],
  401: ['unauthenticated', '请先登录'],
  403: ['forbidden', '无权执行此操作'],
  404: ['not_found', '接口不存在'],
  405: ['method_not_allowed', '不支持的请求方法'],
  406: ['not_acceptable', '不支持的响应格式'],
  408: ['request_timeout', '请求超时'],
  413: ['payload_too_large', '请求内容过大'],
  414: ['uri_too_long', '请求地址过长'],
  415: ['unsupported_media_type', '不支持的内容类型'],
  429: ['too_many_requests', '请求过于频繁，请稍后再试'],
};

/**
 * Fastify's `frameworkErrors`: errors its router raises before any route or error handler runs (a path with bad
 * percent-encoding, a path parameter over maxParamLength), answered in the same shape instead of Fastify's own.
 */
export function frameworkErrorHandler(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_BAD_URL') {
    void reply.code(400).send(errorBody('bad_request', 'url is not a valid URL (bad percent-encoding)', 'url'));
  } else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply.code(414).send(errorBody('uri_too_long', '请求地址过长'));
  } else {
    reply.log.error({ err: error }, 'framework error');
    void reply.code(500).send(errorBody('internal_error', '服务器内部错误，请稍后再试'));
  }
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | HttpError | Error, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof HttpError) {
      if (error.headers) reply.headers(error.headers);
      return reply.code(error.statusCode).send(error.toBody());
    }
    const fe = error as FastifyError & { validationContext?: string };
    if (fe.validation && fe.validation.length > 0) {
      const first = fe.validation[0] as AjvError;
      const field = fieldOf(first, fe.validationContext);
      return reply.code(400).send(errorBody('bad_request', validationMessage(first, field), field));
    }
    const status = fe.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const [code, message] = STATUS_CODES[status] ?? ['bad_request', '请求错误'];
      if (status === 400) {
        // body parser errors (invalid JSON, empty body): the field is the body itself
        const detail = fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'body must not be empty' : 'body is not valid JSON';
        const isBodyError = fe.code?.startsWith('FST_ERR_CTP') ?? false;
        return reply.code(400).send(errorBody(code, isBodyError ? detail : fe.message, isBodyError ? 'body' : undefined));
      }
      return reply.code(status).send(errorBody(code, message));
    }
    if (isDatabaseUnavailable(error)) {
      // an outage, not a bug: say so, and when to try again (calls keep flowing from caches meanwhile)
      request.log.warn({ err: error.message, url: request.url, method: request.method }, 'database unavailable');
      return reply.code(503).header('retry-after', '5').send(errorBody('database_unavailable', '数据库暂时不可用，请稍后再试'));
    }
    request.log.error({ err: error, url: request.url, method: request.method }, 'unhandled error');
    return reply.code(500).send(errorBody('internal_error', '服务器内部错误，请稍后再试'));
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody('not_found', '接口不存在'));
  });
}

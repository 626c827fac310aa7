// The one error shape every route answers with: { error, code, message, field? }.
// `error` and `code` carry the same stable English code; `message` is shown to users, so it is Simplified Chinese
// (except for 400s, whose message names the offending field for the integrator).

export interface ErrorBody {
  error: string;
  code: string;
  message: string;
  field?: string;
}

/** Throw from any route or hook; the app's error handler turns it into the status and body. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }

  toBody(): ErrorBody {
    return errorBody(this.code, this.message, this.field);
  }
}

export function errorBody(code: string, message: string, field?: string): ErrorBody {
  return field === undefined ? { error: code, code, message } : { error: code, code, message, field };
}

export const badRequest = (field: string, message: string) => new HttpError(400, 'bad_request', message, field);
export const notFound = (code: string, message: string) => new HttpError(404, code, message);
export const conflict = (code: string, message: string, field?: string) => new HttpError(409, code, message, field);

/** OpenAPI/JSON schema of ErrorBody, for route response declarations. */
export const errorBodySchema = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    code: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string' },
  },
  required: ['error', 'code', 'message'],
} as const;

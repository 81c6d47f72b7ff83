/**
 * What a route handler gets and returns. Handlers are plain functions: they read params,
 * query and body, call the broker, and return a result or throw HttpError.
 */
import type { IncomingMessage } from 'node:http';
import type { User } from '../broker/users.js';
import type { ManagementContext } from './context.js';

export interface ApiRequest {
  readonly ctx: ManagementContext;
  readonly method: string;
  /** Path parameters, percent-decoded (`vhost` is "/" for %2F). */
  readonly params: Record<string, string>;
  readonly query: URLSearchParams;
  readonly user: User;
  readonly raw: IncomingMessage;
  /** The JSON body as an object; {} when empty; 400 not_json when malformed. */
  body(): Promise<Record<string, unknown>>;
}

export interface ApiResult {
  status: number;
  /** undefined: empty body. */
  body?: unknown;
  headers?: Record<string, string>;
}

export type ApiHandler = (req: ApiRequest) => ApiResult | Promise<ApiResult>;

export const ok = (body: unknown): ApiResult => ({ status: 200, body });
export const created = (headers?: Record<string, string>): ApiResult => ({ status: 201, headers });
export const noContent = (): ApiResult => ({ status: 204 });
/** PUT answers 201 when it created the object and 204 when it already existed. */
export const createdOrNoContent = (isNew: boolean): ApiResult => (isNew ? created() : noContent());

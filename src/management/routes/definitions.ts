/**
 * /api/definitions[/vhost]: GET exports, POST imports (see ../definitions.ts). Administrators
 * only. `?download=NAME` adds content-disposition as RabbitMQ does for the UI's download link.
 */
import { noContent, ok, type ApiRequest, type ApiResult } from '../api-request.js';
import { requireAdmin } from '../auth.js';
import { exportDefinitions, exportVhostDefinitions, importDefinitions } from '../definitions.js';
import type { Router } from '../router.js';
import { vhostParam } from './common.js';

export function definitionRoutes(r: Router): void {
  r.add('/api/definitions', {
    GET: (req) => {
      requireAdmin(req);
      const { config } = req.ctx;
      return download(req, ok(exportDefinitions(req.ctx, config.serverVersion, config.serverProduct)));
    },
    POST: async (req) => {
      requireAdmin(req);
      importDefinitions(req.ctx, await req.body());
      return noContent();
    },
  });
  r.add('/api/definitions/:vhost', {
    GET: (req) => {
      requireAdmin(req);
      const v = vhostParam(req).name;
      return download(req, ok(exportVhostDefinitions(req.ctx, v, req.ctx.config.serverVersion)));
    },
    POST: async (req) => {
      requireAdmin(req);
      const v = vhostParam(req).name;
      importDefinitions(req.ctx, await req.body(), v);
      return noContent();
    },
  });
}

function download(req: ApiRequest, res: ApiResult): ApiResult {
  const name = req.query.get('download');
  if (name !== null && name !== '') res.headers = { 'content-disposition': `attachment; filename="${name.replace(/["\\\r\n]/g, '')}"` };
  return res;
}

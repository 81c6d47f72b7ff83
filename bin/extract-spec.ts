/**
 * Extracts the AMQP 0-9-1 protocol definition from RabbitMQ's extended spec XML into
 * spec/amqp0-9-1.json, which bin/gen-protocol.ts turns into src/protocol/generated.ts.
 *
 *   node dist/bin/extract-spec.js [spec.xml] [out.json]
 *
 * Defaults: <repo>/../shared/amqp/amqp0-9-1-rabbitmq-extended.xml and <repo>/spec/amqp0-9-1.json.
 *
 * Only facts are kept (names, ids, types, flags); the XML's prose and assertions are dropped.
 * The XML is read with the small scanner below (elements and attributes only), so the build
 * needs no XML dependency.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// ---------------------------------------------------------------------------------------
// the JSON shape (bin/gen-protocol.ts reads it)

export type PrimitiveType =
  | 'bit' | 'octet' | 'short' | 'long' | 'longlong' | 'shortstr' | 'longstr' | 'timestamp' | 'table';

export const PRIMITIVE_TYPES: readonly PrimitiveType[] = [
  'bit', 'octet', 'short', 'long', 'longlong', 'shortstr', 'longstr', 'timestamp', 'table',
];

export interface SpecConstant { name: string; value: number; class?: 'soft-error' | 'hard-error'; extension?: 'rabbitmq' }
export interface SpecReplyCode { name: string; code: number; kind: 'soft' | 'hard'; extension?: 'rabbitmq' }
export interface SpecField { name: string; domain: string; type: PrimitiveType; reserved: boolean }
export interface SpecProperty { name: string; domain: string; type: PrimitiveType }
export interface SpecMethod {
  name: string;
  id: number;
  synchronous: boolean;
  content: boolean;
  deprecated?: boolean;
  extension?: 'rabbitmq';
  responses: string[];
  fields: SpecField[];
}
export interface SpecClass { name: string; id: number; properties: SpecProperty[]; methods: SpecMethod[] }
export interface Spec {
  comment: string;
  source: string;
  major: number;
  minor: number;
  revision: number;
  port: number;
  constants: SpecConstant[];
  replyCodes: SpecReplyCode[];
  domains: Record<string, PrimitiveType>;
  classes: SpecClass[];
}

// ---------------------------------------------------------------------------------------
// RabbitMQ extensions that the extended XML does not describe (RabbitMQ's own codegen adds
// them the same way). They are marked "extension": "rabbitmq" in the JSON.

/** 312 NO_ROUTE: RabbitMQ's basic.return reply code for an unroutable mandatory message. */
const RABBITMQ_CONSTANTS: SpecConstant[] = [
  { name: 'no-route', value: 312, class: 'soft-error', extension: 'rabbitmq' },
];

/**
 * connection.blocked / unblocked: resource-alarm notifications to clients that announce the
 * "connection.blocked" capability. connection.update-secret / -ok: credential refresh (OAuth 2).
 */
const RABBITMQ_METHODS: { className: string; method: SpecMethod }[] = [
  {
    className: 'connection',
    method: {
      name: 'blocked', id: 60, synchronous: false, content: false, extension: 'rabbitmq', responses: [],
      fields: [{ name: 'reason', domain: 'shortstr', type: 'shortstr', reserved: false }],
    },
  },
  {
    className: 'connection',
    method: { name: 'unblocked', id: 61, synchronous: false, content: false, extension: 'rabbitmq', responses: [], fields: [] },
  },
  {
    className: 'connection',
    method: {
      name: 'update-secret', id: 70, synchronous: true, content: false, extension: 'rabbitmq',
      responses: ['update-secret-ok'],
      fields: [
        { name: 'new-secret', domain: 'longstr', type: 'longstr', reserved: false },
        { name: 'reason', domain: 'shortstr', type: 'shortstr', reserved: false },
      ],
    },
  },
  {
    className: 'connection',
    method: { name: 'update-secret-ok', id: 71, synchronous: true, content: false, extension: 'rabbitmq', responses: [], fields: [] },
  },
];

/** RabbitMQ names basic's last property, which the XML calls "reserved", cluster-id. */
const PROPERTY_RENAMES: Record<string, Record<string, string>> = { basic: { reserved: 'cluster-id' } };

// ---------------------------------------------------------------------------------------
// a minimal XML scanner: elements, attributes, comments, processing instructions, CDATA and
// DOCTYPE (skipped). Text content is ignored: the spec keeps every fact in attributes.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
}

const NAME = /[A-Za-z_:][-\w.:]*/y;
const ATTR = /\s+([A-Za-z_:][-\w.:]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/y;
const TAG_END = /\s*(\/?)>/y;

export function parseXml(text: string): XmlElement {
  const root: XmlElement = { name: '#document', attrs: {}, children: [] };
  const stack: XmlElement[] = [root];
  const fail = (at: number, msg: string): never => {
    const line = text.slice(0, at).split('\n').length;
    throw new Error(`XML line ${line}: ${msg}`);
  };
  const skipTo = (from: number, close: string, what: string): number => {
    const at = text.indexOf(close, from);
    if (at < 0) fail(from, `unterminated ${what}`);
    return at + close.length;
  };

  let i = 0;
  for (;;) {
    const lt = text.indexOf('<', i);
    if (lt < 0) break;
    if (text.startsWith('<!--', lt)) { i = skipTo(lt + 4, '-->', 'comment'); continue; }
    if (text.startsWith('<?', lt)) { i = skipTo(lt + 2, '?>', 'processing instruction'); continue; }
    if (text.startsWith('<![CDATA[', lt)) { i = skipTo(lt + 9, ']]>', 'CDATA section'); continue; }
    if (text.startsWith('<!', lt)) { i = skipTo(lt + 2, '>', 'declaration'); continue; }

    if (text.startsWith('</', lt)) {
      const gt = skipTo(lt + 2, '>', 'end tag');
      const name = text.slice(lt + 2, gt - 1).trim();
      const open = stack.pop();
      if (open === undefined || open === root || open.name !== name) fail(lt, `unexpected </${name}>`);
      i = gt;
      continue;
    }

    NAME.lastIndex = lt + 1;
    const nameMatch = NAME.exec(text);
    if (nameMatch === null) return fail(lt, 'malformed tag');
    const el: XmlElement = { name: nameMatch[0], attrs: {}, children: [] };
    let at = NAME.lastIndex;
    for (;;) {
      ATTR.lastIndex = at;
      const m = ATTR.exec(text);
      if (m === null) break;
      el.attrs[m[1]!] = decodeEntities(m[2] ?? m[3] ?? '');
      at = ATTR.lastIndex;
    }
    TAG_END.lastIndex = at;
    const end = TAG_END.exec(text);
    if (end === null) return fail(at, `malformed <${el.name}> tag`);
    stack[stack.length - 1]!.children.push(el);
    if (end[1] !== '/') stack.push(el);
    i = TAG_END.lastIndex;
  }
  if (stack.length !== 1) throw new Error(`XML: <${stack[stack.length - 1]!.name}> is never closed`);
  return root;
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[e]!;
  });
}

// ---------------------------------------------------------------------------------------
// XML tree → Spec

function kids(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

function attr(el: XmlElement, name: string): string {
  const v = el.attrs[name];
  if (v === undefined) throw new Error(`<${el.name} name="${el.attrs['name'] ?? '?'}"> lacks attribute ${name}`);
  return v;
}

function intAttr(el: XmlElement, name: string): number {
  const s = attr(el, name);
  if (!/^[0-9]+$/.test(s)) throw new Error(`<${el.name}> attribute ${name}="${s}" is not an integer`);
  return Number(s);
}

function flag(el: XmlElement, name: string): boolean {
  return el.attrs[name] === '1';
}

function primitive(type: string, where: string): PrimitiveType {
  if (!(PRIMITIVE_TYPES as readonly string[]).includes(type)) throw new Error(`${where}: unknown type ${type}`);
  return type as PrimitiveType;
}

export function extractSpec(xml: string, source: string): Spec {
  const doc = parseXml(xml);
  const amqp = kids(doc, 'amqp')[0];
  if (amqp === undefined) throw new Error('no <amqp> element');

  const constants: SpecConstant[] = [];
  for (const c of kids(amqp, 'constant')) {
    const k: SpecConstant = { name: attr(c, 'name'), value: intAttr(c, 'value') };
    const cls = c.attrs['class'];
    if (cls !== undefined) {
      if (cls !== 'soft-error' && cls !== 'hard-error') throw new Error(`constant ${k.name}: unknown class ${cls}`);
      k.class = cls;
    }
    constants.push(k);
  }
  for (const ext of RABBITMQ_CONSTANTS) {
    if (constants.some((c) => c.name === ext.name)) continue;
    // keep reply codes in ascending order: insert before the first larger error code
    const at = constants.findIndex((c) => c.class !== undefined && c.value > ext.value);
    constants.splice(at < 0 ? constants.length : at, 0, { ...ext });
  }
  const replyCodes: SpecReplyCode[] = constants
    .filter((c) => c.class !== undefined)
    .map((c) => {
      const r: SpecReplyCode = { name: c.name, code: c.value, kind: c.class === 'hard-error' ? 'hard' : 'soft' };
      if (c.extension !== undefined) r.extension = c.extension;
      return r;
    });

  const domains: Record<string, PrimitiveType> = {};
  for (const d of kids(amqp, 'domain')) domains[attr(d, 'name')] = primitive(attr(d, 'type'), `domain ${attr(d, 'name')}`);
  for (const t of PRIMITIVE_TYPES) domains[t] ??= t;

  const resolveDomain = (el: XmlElement, where: string): { domain: string; type: PrimitiveType } => {
    const domain = el.attrs['domain'] ?? attr(el, 'type');
    const type = domains[domain];
    if (type === undefined) throw new Error(`${where}: unknown domain ${domain}`);
    return { domain, type };
  };

  const classes: SpecClass[] = [];
  for (const c of kids(amqp, 'class')) {
    const className = attr(c, 'name');
    const renames = PROPERTY_RENAMES[className] ?? {};
    const properties: SpecProperty[] = kids(c, 'field').map((f) => {
      const name = renames[attr(f, 'name')] ?? attr(f, 'name');
      return { name, ...resolveDomain(f, `${className} property ${name}`) };
    });
    const methods: SpecMethod[] = kids(c, 'method').map((m) => {
      const methodName = `${className}.${attr(m, 'name')}`;
      const method: SpecMethod = {
        name: attr(m, 'name'),
        id: intAttr(m, 'index'),
        synchronous: flag(m, 'synchronous'),
        content: flag(m, 'content'),
        responses: kids(m, 'response').map((r) => attr(r, 'name')),
        fields: kids(m, 'field').map((f) => ({
          name: attr(f, 'name'),
          ...resolveDomain(f, `${methodName} field ${attr(f, 'name')}`),
          reserved: flag(f, 'reserved'),
        })),
      };
      if (flag(m, 'deprecated')) method.deprecated = true;
      return method;
    });
    classes.push({ name: className, id: intAttr(c, 'index'), properties, methods });
  }
  for (const ext of RABBITMQ_METHODS) {
    const cls = classes.find((c) => c.name === ext.className);
    if (cls === undefined) throw new Error(`extension ${ext.className}.${ext.method.name}: no such class`);
    if (cls.methods.some((m) => m.name === ext.method.name || m.id === ext.method.id)) continue;
    cls.methods.push(structuredClone(ext.method));
  }

  return {
    comment:
      'AMQP 0-9-1 as RabbitMQ 3.x speaks it. Generated by bin/extract-spec.ts; entries marked "extension": "rabbitmq" are RabbitMQ additions absent from the source XML.',
    source: source,
    major: intAttr(amqp, 'major'),
    minor: intAttr(amqp, 'minor'),
    revision: intAttr(amqp, 'revision'),
    port: intAttr(amqp, 'port'),
    constants,
    replyCodes,
    domains,
    classes,
  };
}

// ---------------------------------------------------------------------------------------
// command line

/** The directory holding package.json, searched upwards from this script (bin/ or dist/bin/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

function main(): void {
  const root = repoRoot();
  const xmlPath = resolve(process.argv[2] ?? join(root, '..', 'shared', 'amqp', 'amqp0-9-1-rabbitmq-extended.xml'));
  const outPath = resolve(process.argv[3] ?? join(root, 'spec', 'amqp0-9-1.json'));
  const spec = extractSpec(readFileSync(xmlPath, 'utf8'), basename(xmlPath));
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, JSON.stringify(spec, null, 2) + '\n');
  const methods = spec.classes.reduce((n, c) => n + c.methods.length, 0);
  console.log(`wrote ${outPath}: ${spec.classes.length} classes, ${methods} methods, ${spec.constants.length} constants`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();

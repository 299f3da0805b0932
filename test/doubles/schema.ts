/**
 * A validator for the JSON-schema subset API descriptions use here: type
 * (incl. integer), properties, required, items, nullable, oneOf, anyOf,
 * allOf, enum, format date-time, additionalProperties. Shared by the GitHub
 * (openapi.ts) and GitLab (gitlab-schema.ts) doubles' checks.
 */
export interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  nullable?: boolean;
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  format?: string;
  additionalProperties?: boolean | Schema;
}


/** Problems with `value` against `schema` (empty = valid). */
export function validateSchema(schema: Schema, value: unknown, at = '$'): string[] {
  if (value === null && !schema.oneOf && !schema.anyOf) {
    return schema.nullable || schema.type === undefined ? [] : [`${at}: null not allowed`];
  }
  if (schema.oneOf) {
    const ok = schema.oneOf.filter((s) => validateSchema(s, value, at).length === 0).length;
    return ok === 1 ? [] : [`${at}: matches ${ok} of oneOf (need exactly 1)`];
  }
  if (schema.anyOf && !schema.anyOf.some((s) => validateSchema(s, value, at).length === 0)) return [`${at}: matches none of anyOf`];
  const errs: string[] = [];
  for (const s of schema.allOf ?? []) errs.push(...validateSchema(s, value, at));
  if (schema.enum && !schema.enum.includes(value)) errs.push(`${at}: ${JSON.stringify(value)} not in enum`);
  switch (schema.type) {
    case undefined:
      break;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) errs.push(`${at}: expected integer, got ${JSON.stringify(value)}`);
      break;
    case 'number':
      if (typeof value !== 'number') errs.push(`${at}: expected number`);
      break;
    case 'string':
      if (typeof value !== 'string') errs.push(`${at}: expected string, got ${typeof value}`);
      else if (schema.format === 'date-time' && !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
        errs.push(`${at}: not a date-time: ${value}`);
      }
      break;
    case 'boolean':
      if (typeof value !== 'boolean') errs.push(`${at}: expected boolean`);
      break;
    case 'array':
      if (!Array.isArray(value)) errs.push(`${at}: expected array`);
      else if (schema.items) value.forEach((v, i) => errs.push(...validateSchema(schema.items!, v, `${at}[${i}]`)));
      break;
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) {
        errs.push(`${at}: expected object`);
        break;
      }
      const o = value as Record<string, unknown>;
      for (const r of schema.required ?? []) if (!(r in o)) errs.push(`${at}: missing required ${r}`);
      for (const [k, v] of Object.entries(o)) {
        const ps = schema.properties?.[k];
        if (ps) errs.push(...validateSchema(ps, v, `${at}.${k}`));
        else if (schema.additionalProperties === false) errs.push(`${at}: unexpected property ${k}`);
      }
      break;
    }
    default:
      errs.push(`${at}: unsupported schema type ${schema.type}`);
  }
  return errs;
}

/**
 * A CommonJS package loaded with import(): its module.exports. Node exposes it as the namespace's
 * default (and copies of its names); a bundler that splits the package into a chunk exposes only
 * the default. Reading the default works in both.
 */
export async function loadCommonJs<T extends object>(load: () => Promise<T>): Promise<T> {
  const ns = (await load()) as T & { default?: T };
  return ns.default ?? ns;
}

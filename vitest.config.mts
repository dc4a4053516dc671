import ts from 'typescript';
import { defineConfig, type Plugin } from 'vitest/config';

/**
 * Compiles the TypeScript with TypeScript itself, so that NestJS gets the decorator metadata it
 * injects by (esbuild does not emit it). Same options as tsconfig.json, ES modules for Vitest.
 */
function typescriptWithDecorators(): Plugin {
  return {
    name: 'typescript-decorator-metadata',
    enforce: 'pre',
    transform(code, id) {
      if (!id.endsWith('.ts') || id.includes('/node_modules/')) return null;
      const out = ts.transpileModule(code, {
        fileName: id,
        compilerOptions: {
          module: ts.ModuleKind.ESNext,
          target: ts.ScriptTarget.ES2022,
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          esModuleInterop: true,
          sourceMap: true,
          inlineSources: true,
        },
      });
      return { code: out.outputText, map: out.sourceMapText ? JSON.parse(out.sourceMapText) : null };
    },
  };
}

const plugins = [typescriptWithDecorators()];

/**
 * The e2e suites, once per state store. Both projects keep one file at a time (Vitest then runs the
 * files of both in one sequential group, never two at once), and each has its own test database.
 */
function e2eProject(name: string, stateStore: 'redis' | 'postgres') {
  return {
    plugins,
    oxc: false as const,
    esbuild: false as const,
    test: {
      name,
      include: ['test/**/*.e2e-spec.ts'],
      environment: 'node',
      env: { E2E_STATE_STORE: stateStore },
      globalSetup: ['test/support/global-setup.ts'],
      fileParallelism: false,
      testTimeout: 30_000,
      hookTimeout: 60_000,
    },
  };
}

export default defineConfig({
  oxc: false,
  esbuild: false,
  plugins,
  test: {
    projects: [
      {
        plugins,
        oxc: false,
        esbuild: false,
        test: { name: 'unit', include: ['src/**/*.spec.ts'], environment: 'node' },
      },
      {
        plugins,
        oxc: false,
        esbuild: false,
        test: {
          name: 'contract',
          include: ['test/**/*.contract-spec.ts'],
          environment: 'node',
          globalSetup: ['test/support/contract-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      e2eProject('e2e', 'redis'),
      e2eProject('e2e-pg', 'postgres'),
    ],
  },
});

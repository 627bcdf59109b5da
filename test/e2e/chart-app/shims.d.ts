// The root tsconfig type-checks this test page without the renderer's env.d.ts.
declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  const component: DefineComponent<object, object, unknown>;
  export default component;
}

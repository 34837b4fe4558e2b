// The page's globals, as the browser tests use them inside functions that run in Chromium
// (page.evaluate, waitForFunction). The root tsconfig has no DOM types (they would change Bun's
// own fetch and stream types; see src/web/ui/tsconfig.json), so they are declared loosely here.
declare const document: any;
declare const window: any;
declare const location: any;
declare function getComputedStyle(el: unknown): any;

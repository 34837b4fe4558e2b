// Placeholder: the helper that owns this file replaces it.
import type { CAC } from "cac";

export function registerGraph(cli: CAC): void {
  void cli;
}

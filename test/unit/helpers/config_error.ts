import { expect } from "vitest";
import { ConfigError } from "../../../backend/database/router/config/config";
import { loadConfig } from "../../../backend/database/router/config/load_config";

/** The ConfigError loadConfig throws for `env` (fails the test if it throws none). */
export function configError(
  env: Record<string, string | undefined>,
): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

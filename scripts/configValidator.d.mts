// Types of configValidator.mjs for the tests that import it.
import type Ajv from 'ajv';

export const schemaFile: string;
export const generatedFile: string;
export function configAjv(extra?: Record<string, unknown>): Ajv;
export function configValidatorSource(): string;
export function writeConfigValidator(): boolean;

import { createHash } from "node:crypto";
import { failureCategory } from "../router/index";

/** Texts the pg driver writes itself, with no SQLSTATE or errno in front. */
const DRIVER_TEXT =
  /Connection terminated|Connection ended|timeout exceeded when trying to connect|Query read timeout|connection timeout|Client has encountered a connection error|the database system is/i;

/**
 * What a caller without the monitoring token may read of an error text
 * (a node's last error, a pending setting's, the cache tier's): an error
 * from the server or the driver (`28000: role "x" does not exist`,
 * `ECONNREFUSED: connect ECONNREFUSED 10.0.0.12:5432`) becomes its kind
 * (`authentication failed`, `connection refused`), since its text can name
 * users, databases, hosts and ports; the router's own words (`not in
 * recovery`, `stalled: ...`) stay, with hosts hidden.
 */
export function publicError(
  text: string,
  hideHosts: (text: string) => string,
): string {
  const coded = /^([0-9A-Z]{5}|E[A-Z_]{2,}): ([\s\S]*)$/.exec(text);
  if (coded !== null)
    return failureCategory({ code: coded[1], message: coded[2] });
  if (DRIVER_TEXT.test(text)) return failureCategory({ message: text });
  return hideHosts(text);
}

/**
 * An instance id as a caller without the token sees it: a stable
 * pseudonym, since the default id starts with the host name
 * (`<host>-<pid>-<random>`). The same instance gets the same pseudonym in
 * every view, so the fleet view still reads.
 */
export function publicInstanceId(instanceId: string): string {
  return `instance-${createHash("sha256").update(instanceId).digest("hex").slice(0, 10)}`;
}

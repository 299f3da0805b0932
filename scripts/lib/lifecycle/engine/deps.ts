/** What the engine needs from the world: the ports, given once per run. */
import type { Plan } from '../core/plan.js';
import type { ActivationPort, AuditLog, Clock, FaultHook, ForgePort, HostKeyStore, HostSecretsStore, KeyFactory, LockPort, SopsConfigPort, StateStore } from '../core/types.js';

export interface LifecycleDeps {
  /** Managed repos, config order. */
  repos: readonly string[];
  /**
   * The repos the config gives `host` (`repos.<name>.hosts`), config order.
   * `required`: a host that gets none is an error naming the config.
   */
  reposFor(host: string, opts?: { required: boolean }): readonly string[];
  forge: ForgePort;
  secrets: HostSecretsStore;
  sops: SopsConfigPort;
  keys: KeyFactory;
  clock: Clock;
  log: AuditLog;
  states: StateStore;
  locks: LockPort;
  fault?: FaultHook;
  /** The hosts' ssh host keys (vm-fresh --new-host-key). */
  hostKeys?: HostKeyStore;
  /** The host's activation script, for the commands that keep it (vm-fresh, rotate). */
  activation?: ActivationPort;
  /** Asked before executing a plan with changes; false aborts. Absent = proceed. */
  confirm?: (plan: Plan) => Promise<boolean>;
}

// The PostgreSQL store: the store contract against a real server, then what only PostgreSQL promises.
import { storeContract } from './contract.js';
import { pgHarness } from './pg-harness.js';

storeContract('postgres', pgHarness);

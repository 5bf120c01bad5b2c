import { Service } from "encore.dev/service";

/** The database service: the replica router, its monitoring and admin endpoints. */
export default new Service("database");

// The registry queue's SQL again, on a PostgreSQL server: there writers and tally folds run on
// connections of their own, truly at once, and the claim's plan is the server planner's.
import '../modules/registry/claim.test.js';
import '../modules/registry/tallies.test.js';

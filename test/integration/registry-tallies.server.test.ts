// The submission tallies again, on a PostgreSQL server: there writers and folds run on
// connections of their own, truly at once, which the embedded database never does.
import '../modules/registry/tallies.test.js';

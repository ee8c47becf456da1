/* keeps docq_testsupport non-empty */
int docq_testsupport_empty_unit;

mod field_tests;
mod label_tests;

//! Whether the OpenCL tests of a test binary can run here.

/// Whether an OpenCL device exists. Without one the caller skips its test, saying so on
/// stderr, unless `NABLA_REQUIRE_OPENCL=1` makes a missing device a failure (CI).
pub fn opencl_available() -> bool {
    let found = nabla::backends::opencl::devices().is_ok_and(|d| !d.is_empty());
    if !found {
        assert!(
            std::env::var("NABLA_REQUIRE_OPENCL").as_deref() != Ok("1"),
            "NABLA_REQUIRE_OPENCL=1 but no OpenCL device was found"
        );
        eprintln!("SKIPPED: no OpenCL device (install pocl-opencl-icd to run this test)");
    }
    found
}

// The gallery app (package and applicationId ai.edgesdsr.gallery). Not built on the project's
// machines: there, the APK pipeline under android/tools/ builds the same sources with the same
// catalog versions. Framework widgets only: no AndroidX, Compose or AppCompat.
plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "ai.edgesdsr.gallery"
    compileSdk = 35

    defaultConfig {
        applicationId = "ai.edgesdsr.gallery"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk { abiFilters += "arm64-v8a" }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }

    // The default bundle (exports/nano-s24-dsp-a16w8, written by `toolchain export`, not committed)
    // ships in assets; see android/README.md for where to copy it before a Gradle build.

    // Context binaries and graphs must stay uncompressed to be memory-mapped.
    androidResources { noCompress += listOf("onnx", "bin", "tflite") }
    packaging { jniLibs { useLegacyPackaging = false } }
    testOptions { unitTests.isIncludeAndroidResources = true }
}

// asProvider(): these aliases are also prefixes of others in the catalog (tflite / tflite-gpu, ...).
dependencies {
    implementation(project(":core"))
    implementation(project(":ort"))
    implementation(libs.kotlinx.coroutines.android)
    implementation(libs.kotlinx.serialization.json)
    implementation(libs.onnxruntime.android.asProvider())
    implementation(libs.onnxruntime.android.qnn.plugin)
    implementation(libs.qnn.runtime)
    implementation(libs.tflite.asProvider())
    implementation(libs.tflite.gpu)
    testImplementation(libs.junit4) // Robolectric runs the UI tests under JUnit 4
    testImplementation(libs.robolectric.asProvider())
    testImplementation(libs.onnxruntime.jvm)
}

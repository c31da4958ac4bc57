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

    // The default bundle (exports/nano-s24-dsp-a16w8, written by `toolchain export`, never committed)
    // ships in assets/bundles/<name>/ (the stageBundle task below copies it).
    sourceSets["main"].assets.srcDir(layout.buildDirectory.dir("bundle-assets"))

    // Context binaries and graphs stay uncompressed; native libraries uncompressed and 16 KB aligned.
    androidResources { noCompress += listOf("onnx", "bin", "tflite") }
    packaging { jniLibs { useLegacyPackaging = false } }

    // Robolectric UI tests (src/test): merged resources and assets, and the repository root for the
    // sample photo and the exported bundle.
    testOptions {
        unitTests {
            isIncludeAndroidResources = true
            all { it.systemProperty("edgesdsr.repo", rootProject.file("..").path) }
        }
    }
}

val defaultBundle = rootProject.file("../exports/nano-s24-dsp-a16w8")
val stageBundle by tasks.registering(Sync::class) {
    description = "Copies the default bundle (run `toolchain export --target s24-dsp` first) into the app's assets."
    from(defaultBundle) { exclude("report.md") }
    into(layout.buildDirectory.dir("bundle-assets/bundles/${defaultBundle.name}"))
    doFirst {
        check(defaultBundle.resolve("manifest.json").isFile) {
            "no bundle at $defaultBundle: run `toolchain export --target s24-dsp -o exports/nano-s24-dsp-a16w8`"
        }
    }
}
tasks.named("preBuild") { dependsOn(stageBundle) }

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
    testImplementation(libs.robolectric.nativeruntime) // 4.18 asks for 1.0.20, which Maven Central lacks
    testImplementation(libs.onnxruntime.jvm)
}

// ONNX Runtime tile runner (package ai.edgesdsr.ort). Compiled against the JVM ONNX Runtime,
// whose ai.onnxruntime API is the one the Android AAR (onnxruntime-android + the QNN EP plugin)
// provides at run time in the app. Not built on the project's machines: there,
// android/tools/jvm.py compiles the same sources with the same catalog versions.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.kotlin.jvm)
}

java {
    sourceCompatibility = JavaVersion.VERSION_1_8
    targetCompatibility = JavaVersion.VERSION_1_8
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_1_8) }
}

dependencies {
    implementation(project(":core"))
    implementation(libs.kotlinx.serialization.json)
    compileOnly(libs.onnxruntime.jvm)
    testImplementation(libs.onnxruntime.jvm)
    testImplementation(libs.junit.jupiter)
    testRuntimeOnly(libs.junit.platform.launcher)
}

tasks.test {
    useJUnitPlatform()
    systemProperty("edgesdsr.golden", rootProject.file("../tests/golden/android").path)
}

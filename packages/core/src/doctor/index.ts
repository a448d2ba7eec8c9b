export {
  type CheckState,
  type DoctorCheck,
  type DoctorOptions,
  type DoctorReport,
  runDoctor,
} from "./doctor.js";
